from core.urls import route

from . import apis

app_name = "plans"

urlpatterns = [
    *route("plans/", apis.PlanListApi.as_view(), name="list"),
    *route("plans/<id:plan_id>/", apis.PlanDetailApi.as_view(), name="detail"),
]
