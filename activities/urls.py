from activities.record_types import ACTIVITY
from roxcrm.record_views import record_urlpatterns

urlpatterns = record_urlpatterns(ACTIVITY, "activities")
