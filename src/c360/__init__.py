"""c360: self-hosted Customer 360 and customer-journey analytics."""

__version__ = "0.1.0"
