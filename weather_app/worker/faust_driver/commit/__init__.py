"""Committing a batch's work: transactions, changelog sends, the RocksDB stores."""
