"""Task logs in Elasticsearch: writers (stdout for a node shipper, Fluentd forward, bulk) and a reader."""
