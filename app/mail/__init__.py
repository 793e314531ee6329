"""The mail service: the SMTP listener, the IMAP readers, mail intake and
threading, and the raw-mail endpoints. The protocol itself (parsing,
composing, relays) is the email adapter's, in app/channels/email/."""
