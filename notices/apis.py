"""The customer's own SMS notices."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView

from .selectors import notice_list
from .serializers import NoticeSerializer


@extend_schema(
    tags=["notices"], summary="The SMS notices sent (or to be sent) to you, newest first"
)
class NoticeListApi(ListAPIView):
    serializer_class = NoticeSerializer

    def get_queryset(self):
        return notice_list(customer_id=self.request.user.pk)
