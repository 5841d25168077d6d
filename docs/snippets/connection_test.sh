# Check a connection's credentials: lists the account's numbers, never places a call.
# [START howto_connection_test]
AIRFLOW__CORE__TEST_CONNECTION=Enabled airflow connections test kaleyra_default
# [END howto_connection_test]
