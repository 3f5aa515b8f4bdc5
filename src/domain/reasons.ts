/**
 * Reason codes for what happened to each part, shown in the manifest and (in Japanese) in the notice.
 * Stable: operators search logs and manifests for them.
 */
export const REASONS = {
  BODY_TEXT: '本文をテキスト化しました',
  PDF_FLATTENED: 'PDFを画像化して再構成しました',
  IMAGE_REENCODED: '画像を再エンコードしました(メタデータ削除)',
  OFFICE_CONVERTED: 'Office文書をPDFに変換し画像化しました',
  TEXT_DECODED: 'テキストとして再作成しました',
  CSV_NEUTRALISED: 'CSV/TSVを再作成し数式になり得るセルを無害化しました',
  HTML_TO_TEXT: 'HTMLをテキスト化しました',
  ARCHIVE_REPACKED: '圧縮ファイルを展開し、中身を無害化して再圧縮しました',
  SVG_RENDERED: 'SVGを画像化しました',
  TYPE_NOT_ALLOWED: '許可されていない形式のため削除しました',
  EXECUTABLE: '実行ファイル・スクリプトのため削除しました',
  UNKNOWN_TYPE: '形式を判別できないため削除しました',
  TYPE_NOT_YET_SUPPORTED: 'この形式の無害化はまだ対応していないため削除しました',
  EMPTY: '空のファイルのため削除しました',
  ENCRYPTED: 'パスワード付きのため原本を保留しました(ウェブ画面でパスワードを入力すると無害化します)',
  WRONG_PASSWORD: 'パスワードが違うため原本を保留しました(正しいパスワードで再度お試しください)',
  TOO_LARGE: 'サイズ上限を超えたため保留しました',
  LIMIT_PAGES: 'ページ数上限を超えたため保留しました',
  LIMIT_PIXELS: '画素数上限を超えたため削除しました',
  LIMIT_ARCHIVE: '圧縮ファイルの展開上限(個数・サイズ・圧縮率・階層)を超えたため削除しました',
  ARCHIVE_PATH: '不正なパスを含むため削除しました',
  CORRUPT: 'ファイルが壊れているため削除しました',
  RENDERER_FAILED: '無害化処理が失敗したため原本を保留しました',
  RENDERER_TIMEOUT: '無害化処理が時間内に終わらなかったため原本を保留しました',
  CONVERTER_FAILED: '文書の変換に失敗したため原本を保留しました',
  INTERNAL_ERROR: '内部エラーのため原本を保留しました',
  MIME_LIMIT: 'メール構造が複雑すぎるため以降の部分を保留しました',
  MESSAGE_TO_TEXT: '添付されたメールをテキスト化しました(中の添付ファイルは一覧のみ)',
  NESTED_IN_MESSAGE: '添付されたメールの中の添付ファイルのため削除しました(原本は保管されています)',
  ENCODED_BINARY: 'テキスト中に埋め込まれた符号化ファイル(uuencode・yEnc・BinHex・base64等)を削除しました',
  MESSAGE_PARTIAL: '分割されたメール(message/partial)の断片のため削除しました(原本は保管されています)',
} as const;

export type ReasonCode = keyof typeof REASONS;
