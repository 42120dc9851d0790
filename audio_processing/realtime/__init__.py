"""The model adapter: the OpenAI Realtime (GA) session, its config, events, tools, audio
and the bridge between a call's audio and the model (docs/protocols.md, Realtime)."""
