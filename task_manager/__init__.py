"""The task engine: who is called when, what each call achieved, and telling the person.

orchestrator (plan → rows) · scheduler (claim, DND, calling hours, launch through the
CallLauncher this package owns) · post_call_analyzer (+ call_judge, the LLM) · campaign
goals · lifecycle_manager (recovery, waiting work, summaries) · notifier and senders.
"""
