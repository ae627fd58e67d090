"""The client, AsyncKrea: its settings, its download methods and subscribe()."""
