"""Everything that talks to a Kafka broker: the embedded broker, admin work, clients."""
