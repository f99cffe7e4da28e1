"""``rnn-tui serve``: the dashboard in a browser, through Textualize's textual-serve.

textual-serve starts the command below once per browser tab and relays its terminal over a
websocket. Each tab is therefore a dashboard process of its own: it opens on the run that trains,
if one does (``--attach-live``), and closing the tab ends only that dashboard, a detach. It listens
on the loopback address unless told otherwise: whoever reaches the page steers training.
"""
from __future__ import annotations

import getpass
import ipaddress
import shlex
import socket

import click

from ..engine.launch import option_arguments, rnn_tui_command
from .headless import InputError


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


def run_serve(host: str, port: int, allow_remote: bool, options: dict) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise InputError("rnn-tui serve needs textual-serve: python3 -m pip install -e '.[serve]'") from None
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"{host} is not a loopback address: anyone who reaches it could steer training; "
                         "add --allow-remote if that is meant, or tunnel with ssh -L instead")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    click.echo(f"rnn-tui in a browser: {url}\n"
               f"  from your laptop:  ssh -N -L {port}:127.0.0.1:{port} {getpass.getuser()}@{socket.gethostname()}"
               f"  then open http://localhost:{port}\n  ctrl+c here stops serving; runs go on.")
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach port {port} can control training", err=True)
    Server(tab_command(options), host=host, port=port, title="rnn-tui").serve()
    return 0
