// Styles of the widget, scoped by its shadow root.
export const css = `
:host{all:initial;font:15px/1.4 system-ui,sans-serif;color:#1b1b1f}
.launch{position:fixed;right:20px;bottom:20px;background:#234;color:#fff;border:0;border-radius:24px;padding:12px 18px;font:inherit;cursor:pointer}
.launch:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f90;outline-offset:2px}
.panel{position:fixed;right:20px;bottom:76px;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 100px);display:flex;flex-direction:column;background:#fff;border:1px solid #ccd;border-radius:12px;box-shadow:0 6px 24px #0003;overflow:hidden}
.panel[hidden]{display:none}
header{background:#234;color:#fff;padding:10px 12px;display:flex;justify-content:space-between;align-items:center;gap:8px}
header h2{font-size:15px;margin:0}
header button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer}
.who{font-size:12px;opacity:.9}
.human header{background:#1d6b3a}
.log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}
.msg{max-width:85%;padding:7px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere}
.msg .by{display:block;font-size:11px;opacity:.75;margin-bottom:2px}
.customer{align-self:flex-end;background:#dbe8ff}
.parla{align-self:flex-start;background:#f0f0f3}
.agent{align-self:flex-start;background:#dff5e6;border:1px solid #1d6b3a}
.note{align-self:center;font-size:12px;color:#444;text-align:center;padding:2px 8px}
.joined{align-self:stretch;background:#1d6b3a;color:#fff;font-weight:600;text-align:center;border-radius:6px;padding:6px}
.typing{font-size:12px;color:#555;padding:0 10px 4px;min-height:16px}
.status{font-size:12px;color:#8a4b00;padding:0 10px}
.status:empty{display:none}
.verify{align-self:stretch;display:flex;flex-direction:column;gap:4px;border:1px solid #dde;border-radius:8px;padding:8px;background:#f7f8fc}
.verify label{font-size:12px;color:#333}
.verify input{font:inherit;padding:4px 6px;border:1px solid #99a;border-radius:4px}
.verify .problem{font-size:12px;color:#a00}
form{display:flex;border-top:1px solid #dde;padding:6px;gap:6px}
textarea{flex:1;resize:none;font:inherit;border:1px solid #bbc;border-radius:6px;padding:6px;height:40px}
form button{background:#234;color:#fff;border:0;border-radius:6px;padding:0 14px;font:inherit;cursor:pointer}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
`;
