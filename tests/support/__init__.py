"""What the tests share; no test module imports another, what two need lives here.

- The app in process: `app` (create_app over prepared components: the session's one embedder; `settings_for`,
  `app_client`, `empty_store_api`, `ThreadedServer`), `scripted_chat` (the deterministic chat model), `headers`.
- The CLI in process: `cli` (`run_cli`, in a `rag` subprocess's environment).
- Processes, where the process is what is tested: `launcher` (`rag serve`, any HTTP server, Redis; the benchmarks
  use it too), `docs_store` (docs/ ingested once, copied, served), `postgres`, `oidc` (the provider and its keys).
- The engine-neutral store suite: `store_suite`.
- Data: `paths`, `access_rules`, `edge_cases`, `eval_dataset`, `eval_results`, and `helm` (the chart rendered).
"""
