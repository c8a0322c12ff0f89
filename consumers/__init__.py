"""Store and Kafka consumers: installed as parcelflow.consumers."""
