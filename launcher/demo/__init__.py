"""The demo: OpenDeep with scripted stand-ins, wired only by `python main.py demo`.

Every part here is labelled a demo part and reached through the interfaces the product
uses for the real thing: a scripted planning assistant and call agent behind a local
OpenAI-compatible server (the real SDK and the real Realtime bridge talk to it), a
telephone line (the real Asterisk sandbox where the machine can run it, else a simulated
line speaking AMI and AudioSocket; the real AMI client and AudioSocket server talk to
either), demo callees, and sample history for each new account. Nothing in
`main.py run` imports this package (docs/architecture.md, The demo).
"""
