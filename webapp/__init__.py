"""AutoTrader Security: the Settings → Security part of a trading-automation platform."""

__version__ = "0.1.0"
