"""Telegram bots (docs/channels.md)."""
