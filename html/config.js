// Where the client finds Janus. Leave empty for the defaults: ws://<this page's host>:8188
// (wss://<host>:8989 on an https page) with auth "none". A ?server=ws://host:port URL
// parameter overrides the server for one visit. A deployment may replace this file:
//
//   window.CALLS_CONFIG = { server: "wss://calls.example.org/janus", auth: "jwt" };
//
// auth: "none" signs in with a user id and display name (development and demos);
//       "jwt" asks for a token signed by the server's jwt_secret.
window.CALLS_CONFIG = window.CALLS_CONFIG || {};
