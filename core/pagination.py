from rest_framework.pagination import PageNumberPagination as BasePageNumberPagination


class PageNumberPagination(BasePageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page=``, ``?page_size=`` (max 100)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
