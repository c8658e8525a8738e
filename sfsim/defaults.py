"""Every default sfsim uses, in one place (the Django project and the docs read them from here).

Environment variables override the credentials; everything else is changed at run time through the control API.
"""

import os

API_VERSION = "59.0"
# The versions /services/data/ lists; any vNN.0 in a URL is accepted, like simple-salesforce's default 59.0.
API_VERSIONS = [
    ("Winter '23", "56.0"),
    ("Spring '23", "57.0"),
    ("Summer '23", "58.0"),
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
]

HOST = "127.0.0.1"
PORT = 8443
DATA_DIR = ".sfsim"
# Login host and instance host are one server under two names, as login.salesforce.com and the My Domain are.
LOGIN_HOSTNAME = "localhost"
INSTANCE_HOSTNAME = "127.0.0.1"

CLIENT_ID = os.environ.get("SFSIM_CLIENT_ID", "3MVG9sfsim.DefaultConnectedApp")
CLIENT_SECRET = os.environ.get("SFSIM_CLIENT_SECRET", "sfsim-client-secret")
ADMIN_USERNAME = os.environ.get("SFSIM_ADMIN_USERNAME", "admin@sfsim.example.com")
ADMIN_PASSWORD = os.environ.get("SFSIM_ADMIN_PASSWORD", "sfsim-admin-1")
# Every other seeded user signs in with this password.
USER_PASSWORD = "sfsim-user-1"
CONTROL_ENV = "SFSIM_CONTROL"

ORG_NAME = "sfsim Demo Org"
# Enterprise Edition: 100,000 + 1,000 per Salesforce licence; sfsim pretends to 15 licences.
DAILY_API_REQUESTS = 115_000
# Salesforce's default session timeout is two hours.
SESSION_LIFETIME_SECONDS = 2 * 60 * 60

QUERY_PAGE_SIZE = 2000
QUERY_MIN_BATCH = 200
# Salesforce deletes a locator after 15 minutes of inactivity; each open one holds a SQLite read connection.
LOCATOR_IDLE_SECONDS = 15 * 60
LOCATOR_MAX_OPEN = 64
COLLECTION_MAX_RECORDS = 200
COMPOSITE_MAX_SUBREQUESTS = 25
COMPOSITE_MAX_QUERIES = 5
GET_UPDATED_MAX_DAYS = 30
GET_DELETED_MAX_DAYS = 15
GET_UPDATED_MAX_IDS = 600_000
BULK_QUERY_PAGE_SIZE = 50_000
BULK_MAX_UPLOAD_BYTES = 150 * 1024 * 1024
# Tasks and events older than this are archived: only queryAll returns them.
ACTIVITY_ARCHIVE_DAYS = 365
# A deployRequest is deployed when first polled; this many polls answer InProgress before the outcome (a setting).
DEPLOY_IN_PROGRESS_POLLS = 1
# Salesforce's limit on a deployment's .zip file.
DEPLOY_MAX_ZIP_BYTES = 39 * 1024 * 1024

SESSION_COOKIE = "sfsim_sid"

PACKAGE_NAMESPACE = "rox"
PACKAGE_NAME = "Rox Integration"
PACKAGE_VERSION_NAME = "1.0"
PACKAGE_VERSION_NUMBER = "1.0.0.1"
