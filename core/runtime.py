"""
What kind of process this is. ``config.wsgi`` and ``config.asgi`` mark themselves before Django
starts, so apps can tell a web server process from a management command or a test run.
"""

server_process = False


def mark_server_process() -> None:
    global server_process
    server_process = True
