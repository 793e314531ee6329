"""LINE Official Accounts through the Messaging API (docs/channels.md)."""
