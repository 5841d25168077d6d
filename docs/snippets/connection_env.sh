# The connection as an environment variable (Airflow's JSON form).
# [START howto_connection_env]
export AIRFLOW_CONN_KALEYRA_DEFAULT='{"conn_type": "kaleyra", "login": "HXIN169510844XXX",
  "password": "YOUR_API_KEY", "extra": {"region": "IN"}}'
# [END howto_connection_env]
