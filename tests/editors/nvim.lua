-- Opens AMISET_FILE in Neovim (headless), starts `AMISET_BIN lsp` as its
-- language server through Neovim's own LSP client, waits for diagnostics
-- and writes them to AMISET_OUT, one per line: code, line, byte column,
-- severity. Then the text sync kind the server advertised, and the
-- diagnostics again after an edit of the buffer on a line with non-ASCII
-- text before the edit (`us-esat-1` → `us-east-1`), which Neovim sends as
-- a ranged change in UTF-16 positions when the server asks for
-- incremental sync. Uses the API of Neovim 0.7 (Debian bookworm), which
-- later versions keep.
local file, bin, root, out = os.getenv("AMISET_FILE"), os.getenv("AMISET_BIN"), os.getenv("AMISET_ROOT"), os.getenv("AMISET_OUT")
vim.cmd("edit " .. vim.fn.fnameescape(file))
local id = vim.lsp.start_client({
  name = "amiset",
  cmd = { bin, "lsp" },
  root_dir = root,
  flags = { allow_incremental_sync = true, debounce_text_changes = 0 },
})
vim.lsp.buf_attach_client(0, id)

local function diagnostics()
  local lines = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or "?"
    table.insert(lines, string.format("%s %d %d %d", code, d.lnum, d.col, d.severity))
  end
  table.sort(lines)
  return lines
end

vim.wait(30000, function() return #vim.diagnostic.get(0) > 1 end, 20)
local lines = diagnostics()

local client = vim.lsp.get_client_by_id(id)
local sync = "?"
local caps = client.server_capabilities
if caps and type(caps.textDocumentSync) == "table" then
  sync = tostring(caps.textDocumentSync.change)
elseif client.resolved_capabilities then
  sync = tostring(client.resolved_capabilities.text_document_did_change)
end
table.insert(lines, "sync " .. sync)

-- The edit, in byte columns as Neovim counts them.
for row, text in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
  local col = string.find(text, "us-esat-1", 1, true)
  if col then
    vim.api.nvim_buf_set_text(0, row - 1, col + 2, row - 1, col + 6, { "east" })
  end
end
vim.wait(30000, function() return #vim.diagnostic.get(0) == 1 end, 20)
table.insert(lines, "after the edit")
for _, l in ipairs(diagnostics()) do
  table.insert(lines, l)
end
vim.fn.writefile(lines, out)
vim.lsp.stop_client(id)
vim.cmd("qa!")
