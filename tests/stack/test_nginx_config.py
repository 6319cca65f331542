"""The nginx template renders for both deployments, and `nginx -t` accepts every rendered file."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.stack.nginx import NginxConfigError, NginxParams, check_config, render
from cityscale.stack.supervisor import Stack
from cityscale.stack.topology import Topology
from tests.support.servers import remove, scratch_dir


@pytest.fixture
def prefix() -> Iterator[Path]:
    path = scratch_dir("nginx-conf")
    (path / "logs").mkdir()
    (path / "temp").mkdir()
    yield path
    remove(path)


def native(prefix: Path, **overrides: object) -> NginxParams:
    params = NginxParams.native(prefix, port=18080, status_port=18081, instance_ports=[18082, 18083])
    return dataclasses.replace(params, **overrides)  # type: ignore[arg-type]


def compose_for_test(prefix: Path, **overrides: object) -> NginxParams:
    # The Compose file exactly, except the two paths nginx -t would create on this host.
    params = NginxParams.compose(**overrides)  # type: ignore[arg-type]
    return dataclasses.replace(params, pid_path=str(prefix / "nginx.pid"), temp_dir=str(prefix / "temp"))


def directives(text: str) -> str:
    """The configuration without its comments."""
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def write_and_check(prefix: Path, params: NginxParams) -> str:
    text = render(params)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    check_config(conf, prefix=prefix)
    return text


@pytest.mark.parametrize("rate_limit_enabled", [False, True])
def test_native_config_passes_nginx_t(prefix: Path, rate_limit_enabled: bool) -> None:
    text = write_and_check(prefix, native(prefix, rate_limit_enabled=rate_limit_enabled))
    assert "server 127.0.0.1:18082 " in text
    assert "server 127.0.0.1:18083 " in text
    assert "keepalive 32;" in text
    assert 'proxy_set_header Connection "";' in text
    assert "resolver" not in directives(text)
    assert ("limit_req zone=" in text) is rate_limit_enabled


@pytest.mark.parametrize("rate_limit_enabled", [False, True])
def test_compose_config_passes_nginx_t_and_resolves_by_name(prefix: Path, rate_limit_enabled: bool) -> None:
    text = write_and_check(prefix, compose_for_test(prefix, rate_limit_enabled=rate_limit_enabled))
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in text
    assert 'set $cityscale_api "api:3000";' in text
    assert "proxy_pass http://$cityscale_api;" in text
    assert "upstream cityscale_api" not in text  # nginx 1.22 would resolve an upstream block once, at start
    assert "access_log /dev/stdout cityscale_json buffer=64k flush=1s;" in text
    assert ("limit_req zone=" in text) is rate_limit_enabled


@pytest.mark.parametrize("variant", ["native", "compose"])
def test_both_variants_share_the_edge_policies(prefix: Path, variant: str) -> None:
    params = native(prefix) if variant == "native" else compose_for_test(prefix)
    text = render(params)
    # Idempotent requests move on to the next instance; POSTs that reached one are never replayed.
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in text
    assert "non_idempotent" not in directives(text)
    assert "proxy_set_header X-Request-ID $cityscale_request_id;" in text
    assert "proxy_set_header X-Real-IP $remote_addr;" in text
    assert "log_format cityscale_json escape=json" in text
    assert "limit_req_zone $binary_remote_addr zone=cityscale_per_ip" in text
    assert "client_max_body_size  64k;" in text
    for directive in ("client_header_timeout", "client_body_timeout", "proxy_connect_timeout", "proxy_read_timeout"):
        assert directive in text
    assert "location = /metrics {\n            # Instance metrics" in text
    assert "stub_status;" in text
    assert ("daemon off;" in text) is (variant == "native")


def test_daemon_off_twice_is_rejected_so_the_compose_variant_leaves_it_out(prefix: Path) -> None:
    conf = prefix / "nginx.conf"
    conf.write_text(render(native(prefix)))
    with pytest.raises(NginxConfigError, match='"daemon" directive is duplicate'):
        check_config(conf, prefix=prefix, global_directives="daemon off;")


def test_a_value_nginx_rejects_is_reported_with_nginx_own_words(prefix: Path) -> None:
    with pytest.raises(NginxConfigError, match=r'rejected .*"client_max_body_size" directive invalid value'):
        write_and_check(prefix, native(prefix, client_max_body_size="lots"))


def test_params_need_exactly_one_way_to_find_the_instances(prefix: Path) -> None:
    with pytest.raises(ValueError, match="either upstream_servers"):
        native(prefix, resolver="127.0.0.11", dynamic_upstream="api:8000")
    with pytest.raises(ValueError, match="either upstream_servers"):
        native(prefix, upstream_servers=())
    with pytest.raises(ValueError, match="needs dynamic_upstream"):
        dataclasses.replace(NginxParams.compose(), dynamic_upstream=None)


def test_the_status_page_cannot_share_the_public_port(prefix: Path) -> None:
    # nginx itself would accept it and silently send every status request to the public server.
    with pytest.raises(ValueError, match=r"both 127\.0\.0\.1:8080"):
        NginxParams.native(prefix, port=8080, status_port=8080, instance_ports=[3000])


def test_the_committed_compose_file_is_the_template_rendered(prefix: Path) -> None:
    committed = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "compose.conf"
    assert committed.read_text() == render(NginxParams.compose()), (
        "deploy/nginx/compose.conf is stale; regenerate it: "
        "uv run python -m cityscale.stack.nginx --compose > deploy/nginx/compose.conf"
    )
    # And nginx accepts it as the official image runs it (with -g 'daemon off;'), paths moved into our prefix.
    tested = prefix / "compose.conf"
    text = committed.read_text().replace("pid /tmp/nginx.pid;", f"pid {prefix}/nginx.pid;")
    tested.write_text(re.sub(r"(_temp_path\s+)/tmp/", rf"\g<1>{prefix}/temp/", text))
    check_config(tested, prefix=prefix, global_directives="daemon off;")


@pytest.mark.parametrize("rate_limit", [None, 5])
def test_up_s_rate_limit_switches_the_zone_on_and_nginx_accepts_both(rate_limit: int | None) -> None:
    data_dir = scratch_dir("nginx-rate")
    try:
        for sub in ("logs", "temp"):
            (data_dir / "nginx" / sub).mkdir(parents=True)
        stack = Stack(Topology(data_dir=data_dir, instances=2, rate_limit=rate_limit), say=lambda _: None)
        ports = {"nginx": 18080, "nginx-status": 18081, "api-1": 18082, "api-2": 18083}
        text = write_and_check(data_dir / "nginx", stack.nginx_params(ports))
        applied = re.findall(r"^\s*limit_req zone=.*$", directives(text), flags=re.MULTILINE)
        if rate_limit is None:
            assert applied == []  # off by default: the zone is declared, never applied
        else:
            assert [line.strip() for line in applied] == ["limit_req zone=cityscale_per_ip burst=5 nodelay;"]
            assert "zone=cityscale_per_ip:10m rate=5r/s;" in text
    finally:
        remove(data_dir)
