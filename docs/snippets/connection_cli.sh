# The connection stored in the metadata database with Airflow's CLI.
# [START howto_connection_cli]
airflow connections add kaleyra_default --conn-type kaleyra \
  --conn-login HXIN169510844XXX --conn-password 'YOUR_API_KEY' --conn-extra '{"region": "EU"}'
# [END howto_connection_cli]
