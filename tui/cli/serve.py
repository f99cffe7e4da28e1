"""``rnn-tui serve``: the dashboard in a browser, through Textualize's textual-serve.

textual-serve starts the command below once per browser tab and relays its terminal over a
websocket. Each tab is therefore a dashboard process of its own: it opens on the run that trains,
if one does (``--attach-live``), and closing the tab ends only that dashboard, a detach. It listens
on the loopback address unless told otherwise: whoever reaches the page steers training.

The page names the server's own address for its scripts and its websocket; textual-serve writes the
address it listens on there, which a browser behind ``ssh -L 9000:127.0.0.1:8000`` cannot reach.
Here each page names the address its browser asked for (the request's ``Host``), so any forwarded
port works; ``--public-url`` names one for a reverse proxy that rewrites it.
"""
from __future__ import annotations

import errno
import getpass
import ipaddress
import shlex
import socket

import click

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.launch import option_arguments, rnn_tui_command
from rnn_tui.tui.cli.errors import InputError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def tab_command(options: dict) -> str:
    """What textual-serve runs for each tab: the dashboard with the options ``serve`` was given."""
    return shlex.join(rnn_tui_command("--attach-live", *option_arguments(options)))


def check_address(host: str, port: int) -> None:
    """InputError, in one line, unless ``host`` resolves and ``port`` is free on it."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"--host {host!r} is not an address this machine can listen on ({exc})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(f"port {port} on {host} is in use (another rnn-tui serve?): pick another "
                                 f"with --port") from None
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def page_server(command: str, host: str, port: int, public_url: str | None):
    """textual-serve's server, its page naming the address the browser used (or ``public_url``)."""
    from textual_serve.server import Server

    class TunnelledServer(Server):
        async def handle_index(self, request):
            # read synchronously by the page's template below, on the one event-loop thread: no other
            # request runs between this line and that read
            self.public_url = public_url or f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

    return TunnelledServer(command, host=host, port=port, title="rnn-tui", public_url=public_url)


def run_serve(host: str, port: int, allow_remote: bool, options: dict, config: TrainConfig,
              public_url: str | None = None) -> int:
    try:
        import textual_serve.server  # noqa: F401  (an optional extra: said plainly when absent)
    except ImportError:
        raise InputError("rnn-tui serve needs textual-serve: python3 -m pip install -e '.[serve]'") from None
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"{host} is not a loopback address: anyone who reaches it could steer training; "
                         "add --allow-remote if that is meant, or tunnel with ssh -L instead")
    problem = config.first_error_before_corpus()
    if problem:
        raise InputError(problem)
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise InputError(f"--public-url must start with http:// or https:// (got {public_url!r})")
    check_address(host, port)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    click.echo(f"rnn-tui in a browser: {url}\n"
               f"  from your laptop:  ssh -N -L {port}:127.0.0.1:{port} {getpass.getuser()}@{socket.gethostname()}"
               f"  then open http://localhost:{port} (any local port works)\n  ctrl+c here stops serving; runs go on.")
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach port {port} can control training", err=True)
    try:
        page_server(tab_command(options), host, port, public_url).serve()
    except OSError as exc:  # taken between the check and the bind
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return 0
