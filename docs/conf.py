"""Sphinx configuration for litestar-alchemy-kit."""

project = "litestar-alchemy-kit"
copyright = "2026, the litestar-alchemy-kit developers"
author = "the litestar-alchemy-kit developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxcontrib.mermaid",  # diagrams render in the browser: the build needs no graphviz binary
]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = True

# Every reference to this project's objects must resolve: an unresolved one fails the build (with -W).
nitpicky = True
# The build runs offline (CI without network, no intersphinx inventories), so references to other projects'
# objects in signatures cannot resolve; only those are ignored. Our own names never are.
_EXTERNAL = (
    r"(litestar|advanced_alchemy|sqlalchemy|msgspec|opentelemetry|redis|valkey|typing_extensions|_pytest|pytest)"
    r"(\..*)?"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", r"(collections\.abc|typing|types|datetime|enum|uuid|decimal|logging|asyncio|threading|re)\..*"),
    (r"py:.*", r"(Any|Awaitable|Callable|Mapping|Sequence|Iterable|Iterator|AsyncIterator|Coroutine|Literal)"),
    (r"py:.*", r"(Request|Scope|Store|Engine|Session|AsyncSession|AsyncEngine|Select|ColumnElement|Executable)"),
    (
        r"py:.*",
        r"(T|K|V|ModelT|UserT|TokenT|RepositoryT|CachedAsyncRepositoryT|CachedSyncRepositoryT|AsyncServiceT|SyncServiceT|P|R)",
    ),
    (r"py:class", r"(NoneType|Ellipsis|EllipsisType|ExceptionGroup|BaseExceptionGroup)"),
    # Other projects' names written short in docstrings and annotations (resolvable only through intersphinx).
    (
        r"py:.*",
        (
            r"(NotAuthorizedException|PermissionDeniedException|ImproperlyConfiguredException|AppConfig|PrimaryKeyType"
            r"|Middleware|scoped_session|async_scoped_session|AdvancedAlchemyError|LoadSpec|ErrorMessages|EmptyType"
            r"|BaseRoute|AbstractContextManager|SQLAlchemyAsyncConfig|SQLAlchemySyncConfig|Response|Dialect"
            r"|InstrumentedAttribute|ForUpdateParameter|StatementFilter|ModelDictT|BulkModelDictT|SchemaDumpConfig|MappedColumn"
            r"|Litestar|async_sessionmaker|sessionmaker|Group|FilterConfig|DependencyDefaults|Provide|Column)"
        ),
    ),
    # Type variables and internal helpers that docstrings mention: not public (in no __all__), so not in the reference.
    (r"py:.*", r"litestar_alchemy_kit\..*\.\w*T(_co|_contra)?"),
    (r"py:.*", r"litestar_alchemy_kit\.(.*\.)?_\w+(\..*)?"),
    (r"py:.*", r"(litestar_alchemy_kit\.errors\.mapping\.)?Resolution"),
    # bind_cache's overload target aliases (orm.invalidation): documented through bind_cache's signature.
    (r"py:.*", r"(litestar_alchemy_kit\.orm\.invalidation\.)?(AsyncTarget|SyncTarget)"),
    (r"py:.*", r"(CredentialCheck|as_async_backend|delete_prefix|connection_target|IGNORED_EXECUTION_OPTIONS|Level)"),
    # ASGI and SQLAlchemy names written short in annotations of the response cache and the ORM layer.
    (r"py:class", r"(ASGIApp|HTTPScope|Receive|Send|HTTPResponseStartEvent|HTTPRouteHandler|MetaData|Connection)"),
    # Internal helpers named in public signatures (in no __all__, so not in the reference).
    (r"py:.*", r"(_Route|EntryPrefix|AsyncCache|(litestar_alchemy_kit\.orm\.statement\.)?PkLookup)"),
    (r"py:data", r"(ENTRY_OVERHEAD|EXPIRY_OVERHEAD)"),
    (r"py:mod", r"litestar_alchemy_kit\.response_cache\.(config|engine|keys|plugin)"),
]
# Two public structs have a member named ``type``; napoleon's field types would otherwise be ambiguous references.
suppress_warnings = ["ref.python"]

html_theme = "shibuya"
html_title = "litestar-alchemy-kit"
exclude_patterns = ["_build", "_scripts", "benchmarks/_generated"]  # included by benchmarks/index.rst
