"""The offline installer: bundle verification, Ansible driver, state and post-install checks."""
