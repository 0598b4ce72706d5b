"""Everything that talks to a Kafka broker: the embedded broker, admin work, clients."""

from weather_app.kafka import connection_logs

connection_logs.install()  # every kafka-python client of the product is made in this package
