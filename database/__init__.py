"""Persistence: models, migrations and the user-scoped repositories.

engine = create_engine_for(settings.database.url, settings.app.data_dir)  # database.engine
await upgrade_engine(engine)                                              # database.migrate
sessions = session_factory(engine)
async with sessions() as s, s.begin():
    task = await tasks.get(s, user_id=user_id, task_id=task_id)           # database.repositories
"""
