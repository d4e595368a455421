"""Feature data in and out: SAEDashboard batch files, Neuronpedia's export layout, upload APIs.

``writer.features_batch_write`` is the one way feature statistics and activation snippets reach
the database (PostgreSQL COPY, one transaction per batch, recorded in the import ledger).
"""
