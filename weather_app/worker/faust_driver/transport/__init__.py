"""The Faust driver's transport: aiokafka's fetch, Faust's consumer and producer."""
