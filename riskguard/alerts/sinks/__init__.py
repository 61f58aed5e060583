"""The alert sinks: one module per medium (webhook, Slack, Discord, Telegram, email), the shared
HTTP POST and its error mapping, and the medium limits messages are cut to."""
