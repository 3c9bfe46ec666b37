"""`pip install` works: a wheel built from this tree, installed into a fresh virtualenv outside
the checkout, carries the collection and runs `multiarc-install --offline ... --check` against
a test node; `ansible-galaxy collection build` builds the collection for teams with their own
playbooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from multiarc.collection import COLLECTION_ROOT

from tests.integration.sites import REPO_ROOT, Site, UserBundle, explain, flat

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(REPO_ROOT)],
        capture_output=True, text=True, timeout=600, cwd=work,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next((work / "dist").glob("multiarc-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True, text=True, timeout=900, cwd=work,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    return venv


def test_the_wheel_installs_onto_a_node_without_a_checkout(
    wheel_venv: Path, fresh_site: Site, user_bundle: UserBundle, tmp_path: Path
) -> None:
    python = wheel_venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import multiarc, multiarc.collection as c; print(multiarc.__file__);"
         " print(c.COLLECTION_ROOT)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert all(str(wheel_venv) in line for line in where), where  # not the checkout
    assert (Path(where[1]) / "playbooks" / "site.yml").is_file()
    env = {**fresh_site.env(), "PATH": f"{wheel_venv / 'bin'}{os.pathsep}/usr/bin:/bin"}
    done = subprocess.run(
        [str(wheel_venv / "bin" / "multiarc-install"), "--offline", str(user_bundle.archive),
         "--inventory", str(fresh_site.inventory), "--allow-os-override", "--check"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, explain(done)
    assert "check mode: nothing was changed." in flat(done.stdout)
    assert " would change, 0 failed" in flat(done.stdout)


def test_ansible_galaxy_builds_the_collection(tmp_path: Path) -> None:
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    done = subprocess.run(
        [str(galaxy), "collection", "build", str(COLLECTION_ROOT), "--output-path", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(tmp_path.glob("multiarc-platform-*.tar.gz"))
