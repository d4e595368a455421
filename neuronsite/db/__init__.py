"""Database backend package: ``ENGINE = "neuronsite.db"`` (see base.py)."""
