FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=collectstatic-only-0123456789abcdef python manage.py collectstatic --noinput
EXPOSE 8000
# deploy/asgi-server is the one place naming the server command (graceful SIGTERM, see README).
CMD ["deploy/asgi-server", "0.0.0.0", "8000"]
