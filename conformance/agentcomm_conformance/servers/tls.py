"""Throwaway TLS certificates for a private ``redis-server`` started with ``tls=True``.

Apart from the server because it is ``openssl``'s business, not Redis's: a CA and a
server certificate that strict verifiers accept, made fresh in the test's directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from agentcomm_conformance.servers.programs import openssl_binary

__all__ = ["make_certificates"]

SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def make_certificates(directory: Path) -> None:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost.

    Files: ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key``.  The extensions are the
    ones strict verifiers demand (Python 3.13's default context sets VERIFY_X509_STRICT).
    EC keys, because generating them takes no noticeable time.
    """
    openssl = openssl_binary()
    if openssl is None:
        raise RuntimeError("openssl is not installed; a TLS server needs it for certificates")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.ext").write_text(SERVER_EXTENSIONS, encoding="ascii")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        directory,
        openssl,
        "req",
        "-x509",
        *key,
        "-days",
        "2",
        "-subj",
        "/CN=agentcomm throwaway test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    _openssl(
        directory,
        openssl,
        "req",
        "-new",
        *key,
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    _openssl(
        directory,
        openssl,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-days",
        "2",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    )


def _openssl(directory: Path, openssl: str, *arguments: str) -> None:
    result = subprocess.run(
        [openssl, *arguments],
        cwd=directory,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"openssl {arguments[0]} failed:\n{result.stderr.decode(errors='replace')}"
        )
