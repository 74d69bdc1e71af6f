"""Job records (SQLAlchemy 2): models, sessions, keys and the atomic state transitions."""
