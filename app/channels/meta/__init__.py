"""Meta's platforms: Messenger, Instagram and WhatsApp Cloud (docs/channels.md)."""
