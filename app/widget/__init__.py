"""The web widget: its script (widget.js, served as it is) and the endpoint
that opens its sessions. Its socket is app/realtime/widget_socket.py."""
