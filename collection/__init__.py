"""The Ansible collection ``multiarc.platform`` as package data of multiarc.

``collection/ansible_collections/multiarc/platform/`` holds the roles, the playbook
(``playbooks/site.yml``) and the modules (``plugins/modules``) that ``multiarc-install``
runs. It ships inside the wheel, and the installer points Ansible at this folder
(``ANSIBLE_COLLECTIONS_PATH``), so ``pip install multiarc`` needs no checkout; teams that
drive their own playbooks can build it with ``ansible-galaxy collection build``.
"""

from pathlib import Path

COLLECTIONS_PATH = Path(__file__).resolve().parent
COLLECTION_ROOT = COLLECTIONS_PATH / "ansible_collections" / "multiarc" / "platform"
COLLECTION_NAME = "multiarc.platform"
