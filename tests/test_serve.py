"""`rnn-tui serve`: the dashboard in a real browser (Debian's Chromium, driven by Playwright)."""
import contextlib
import html
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.tui.cli.serve import is_loopback
from rnn_tui.engine.watch import run_info
from helpers import epochs_done, rnn_tui, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_serve_refuses_a_reachable_address_without_allow_remote():
    pytest.importorskip("textual_serve", reason="the serve extra (textual-serve) is not installed")
    result = rnn_tui("serve", "--host", "0.0.0.0", "--port", "8999")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "--allow-remote" in lines[0]
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("box.example.org")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Tunnel:
    """What ``ssh -N -L PORT:127.0.0.1:TARGET`` gives a laptop: another port that relays every connection."""

    def __init__(self, target: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port, self.target = self.listener.getsockname()[1], target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def test_serve_says_in_one_line_what_keeps_it_from_starting(tmp_path):
    pytest.importorskip("textual_serve", reason="the serve extra (textual-serve) is not installed")
    with socket.create_server(("127.0.0.1", 0)) as taken:  # another server on the port
        port = taken.getsockname()[1]
        cases = [(["--port", str(port)], f"port {port} on 127.0.0.1 is in use"),
                 (["--corpus", "nosuch", "--port", str(free_port())], "unknown corpus 'nosuch'"),
                 (["--hidden", "-3", "--port", str(free_port())], "--hidden must be a positive integer"),
                 (["--host", "not a host!", "--allow-remote"], "is not an address this machine can listen on"),
                 (["--public-url", "ftp://x", "--port", str(free_port())], "--public-url must start with http")]
        for args, message in cases:
            result = rnn_tui("serve", *args)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)


def test_serve_help_puts_its_own_options_first_and_the_training_options_in_one_line():
    result = rnn_tui("serve", "--help")
    assert result.returncode == 0
    options = result.stdout.split("Options:")[1]
    assert all(name in options for name in ("--host", "--port", "--allow-remote", "--public-url"))
    assert "--lr-schedule" not in result.stdout and "--checkpoint-every" not in result.stdout
    assert "Every option of `rnn-tui train`" in result.stdout and len(result.stdout.splitlines()) < 30


def screen_text(svg: str) -> str:
    return html.unescape(" ".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_the_served_dashboard_works_in_a_browser_and_a_second_tab_follows_the_run(tmp_path):
    pytest.importorskip("textual_serve", reason="the serve extra (textual-serve) is not installed")
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").sync_playwright
    port = free_port()
    server = subprocess.Popen(rnn_tui_command("serve", "--port", str(port), "--corpus", "markov:length=60000",
                                              "--hidden", "32", "--epochs", "300", "--device", "cpu",
                                              "--sample-every", "0"),
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              env={k: v for k, v in os.environ.items()  # the README's picture in colour
                                   if k != "NO_COLOR" or not os.environ.get("RNN_TUI_SERVE_SCREENSHOT")})
    tunnel = Tunnel(port)
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 30, "the server")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1200, "height": 800})
            screenshots: list[str] = []

            def keep(route):  # the app's own "Screenshot" command arrives as a download: read it here
                response = route.fetch()
                screenshots.append(response.text())
                route.fulfill(response=response)
            context.route("**/download/**", keep)
            # the laptop reaches only its end of the tunnel: the server's own port is out of its reach
            context.route(f"http://127.0.0.1:{port}/**", lambda route: route.abort())
            context.route_web_socket(f"ws://127.0.0.1:{port}/**", lambda websocket: websocket.close())
            page_html = urllib.request.urlopen(f"http://localhost:{tunnel.port}/", timeout=30).read().decode()
            assert f"ws://localhost:{tunnel.port}/ws" in page_html and f":{port}/" not in page_html

            def screen_of(page) -> str:
                count = len(screenshots)
                page.keyboard.press("Control+p")
                time.sleep(0.5)
                page.keyboard.type("screenshot")
                time.sleep(0.5)
                page.keyboard.press("Enter")
                for _ in range(200):  # Playwright serves the route while it waits, not while we sleep
                    if len(screenshots) > count:
                        return screen_text(screenshots[-1])
                    page.wait_for_timeout(100)
                raise AssertionError("the app's screenshot never arrived")

            page = context.new_page()  # through a forwarded port, as from a laptop: the page must not name 8000
            page.goto(f"http://localhost:{tunnel.port}")
            page.locator(".textual-terminal").click()
            wait_for(lambda: "ready: ctrl+r starts" in screen_of(page), 30, "the dashboard in the page")
            text = screen_text(screenshots[-1])
            assert all(panel in text for panel in ("configuration", "perplexity", "generation", "events"))
            page.keyboard.press("F1")  # a key reaches the app
            wait_for(lambda: "rnn-tui keys" in screen_of(page), 20, "the help")
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)  # a key within Textual's ESCDELAY would make escape a modifier
            wait_for(lambda: "rnn-tui keys" not in screen_of(page), 20, "the help to close")
            page.keyboard.press("Control+r")  # a run started from the page
            run = wait_for(lambda: next(iter((tmp_path / "runs").glob("*")), None), 60, "the run folder")
            wait_for(lambda: epochs_done(run) >= 2, 120, "two epochs", progress=lambda: epochs_done(run))
            wait_for(lambda: re.search(r"epoch \d+: perplexity", screen_of(page)), 30, "an epoch on the page")
            if os.environ.get("RNN_TUI_SERVE_SCREENSHOT"):  # the README's picture, once the toasts are gone
                page.wait_for_timeout(8000)
                page.screenshot(path=os.environ["RNN_TUI_SERVE_SCREENSHOT"])

            second = context.new_page()  # another tab follows the run instead of starting one
            second.goto(f"http://localhost:{tunnel.port}")
            second.locator(".textual-terminal").click()
            wait_for(lambda: f"{run.name} · attached" in screen_of(second), 30, "the second tab to attach")
            page.keyboard.press("Control+o")  # stopped from the first tab, then a second run from it
            wait_for(lambda: run_info(run).outcome == "stopped", 60, "the run to stop")
            wait_for(lambda: "stopped: epoch" in screen_of(page), 30, "the stop on the page")

            def asked() -> bool:
                if "is on screen" in screen_of(page):
                    return True
                page.keyboard.press("Control+r")  # taken once the app has seen the run's process end
                return False
            wait_for(asked, 60, "the question: train on, or a new run")
            page.keyboard.press("n")
            new_run = wait_for(lambda: next((r for r in (tmp_path / "runs").glob("*") if r != run), None), 60,
                               "the second run's folder")
            wait_for(lambda: epochs_done(new_run) >= 1, 120, "its first epoch", progress=lambda: epochs_done(new_run))
            page.close()  # closing a tab detaches: the run goes on
            second.close()
            browser.close()
        done = epochs_done(new_run)
        wait_for(lambda: epochs_done(new_run) > done, 60, "the run to go on after the tabs closed")
        assert len(list((tmp_path / "runs").glob("*"))) == 2
        assert rnn_tui("control", str(new_run), "stop").returncode == 0
    finally:
        tunnel.close()
        server.terminate()
        server.wait(timeout=30)


def test_without_the_serve_extra_it_says_how_to_install_it(monkeypatch):
    import sys

    from rnn_tui.engine.config import TrainConfig
    from rnn_tui.tui.cli.errors import InputError
    from rnn_tui.tui.cli.serve import run_serve
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # as if textual-serve were not installed
    with pytest.raises(InputError, match=r"pip install -e '\.\[serve\]'"):
        run_serve("127.0.0.1", 8000, False, {}, TrainConfig())
