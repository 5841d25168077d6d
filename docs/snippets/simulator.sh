# Start the simulator on the documented port (Airflow's own UI is on 8080).
# [START howto_simulator_start]
python -m airflow_provider_kaleyra.simulator --port 8765
# [END howto_simulator_start]
