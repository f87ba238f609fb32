// The Node Socket.IO peer: Node Socket.IO with the Redis adapter, every socket in one room,
// events relayed from a Redis channel with io.to(room).emit(). No compression.
// Usage: node server.js PORT REDIS_URL CHANNEL
const { createServer } = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const [port, redisUrl, channel] = process.argv.slice(2);

async function main() {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  const relay = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect(), relay.connect()]);
  const httpServer = createServer();
  const io = new Server(httpServer, {
    transports: ["websocket"],
    perMessageDeflate: false,
    httpCompression: false,
    adapter: createAdapter(pub, sub, { key: `${channel}-sio` }),
  });
  io.on("connection", (socket) => socket.join("tenant"));
  await relay.subscribe(channel, (message) => {
    io.to("tenant").emit("event", JSON.parse(message));
  });
  httpServer.listen(Number(port), "127.0.0.1");
  const stop = () => { io.close(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => { console.error(err); process.exit(1); });
