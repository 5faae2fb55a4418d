"""Fleet deployment: Ed25519-signed bundles, an OCI registry as the channel, follow mode.

signing.py owns keys and detached signatures; oci.py talks to the registry (oras);
trust.py applies `bundles.trust` to every load; follow.py polls a reference and hands
verified bundles to the agent's existing reload path.
"""
