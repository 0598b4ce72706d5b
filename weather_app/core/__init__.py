"""The pure core shared by Faust agents, plain consumers and tests: no I/O, no Kafka."""
