from core.urls import route

from . import apis

app_name = "notices"

urlpatterns = [
    *route("notices/", apis.NoticeListApi.as_view(), name="list"),
]
