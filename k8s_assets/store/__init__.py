"""The store: PostgreSQL, beneath the Dagster edge. Nothing here knows Dagster.

* ``database`` -- where the database is, connections, the SQL files of ``sql/``;
* ``migrations`` and ``schema`` -- numbered migrations, and the kind tables derived from the catalog;
* ``contract`` -- what a listing hands the store (``KindListing``) and what a merge returns
  (``MergeResult``): the one typed contract from the listing through the IO manager to here;
* ``copy`` -- COPY of a frame's rows, refusing one bad row without blocking its kind;
* ``merge`` -- one kind's listing of one cluster, in one transaction under an advisory lock per
  (table, cluster): first sync COPYed straight in; later ones stage keys, send only new or
  changed rows, upsert them and delete what the complete listing no longer has;
* ``versions`` -- history in the same transaction: a version opens, closes or moves forward;
* ``coverage`` -- what each listing saw (``k8s_sync_coverage``) and since when;
* ``clusters``, ``rows`` -- the cluster rows, and rows read back for downstream assets;
* ``retention`` -- dropping the day partitions of versions that ended too long ago;
* ``images`` -- the container-image tables derived in PostgreSQL.

Every function that opens a connection takes ``connect``: a function returning a new
psycopg connection (``PostgresResource.connect`` in a run, ``database.connect`` bound to a URL
elsewhere).
"""
